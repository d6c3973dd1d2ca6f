"""Packaging for SchemaHub: the `schemahub_lib` package and the `schemahub` console script.

Versions follow the AWS Glue 5.1 matrix fixed in SPEC.md (Python 3.11, Spark 3.5.6,
Iceberg 1.10.0 on the JVM side, PyIceberg 0.11.x for the connector jobs).
"""

from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "pyspark==3.5.6",
    "pyiceberg[glue,sql-sqlite,pyarrow]==0.11.1",
    "pyarrow>=17,<22",
    "numpy>=1.26,<2",  # pyspark 3.5's pandas bridge predates numpy 2
    "pandas>=2.1,<2.3",
    "boto3>=1.34,<2",
    "requests>=2.31,<3",
    "pyyaml>=6,<7",
    "tqdm>=4.66,<5",
    "python-dateutil>=2.8.2,<3",  # isoparse: every time flag (schemahub_lib/timespec.py)
    # `schemahub query` and the read API. Pinned: the Iceberg extension wheels on PyPI exist
    # per exact DuckDB version (README "Querying"), and results should not move under us.
    "duckdb==1.5.5",
    # schemahub explore: the local web app
    "starlette==1.10.0",
    "uvicorn==0.54.0",
]

TEST_REQUIRES = [
    "pytest>=8,<9",
    "pytest-timeout>=2.3,<3",
    "chispa>=0.10,<1",
    "moto[server]>=5.1,<6",
    "ruff>=0.6,<1",
    "mypy>=1.11,<2",
    "types-requests",
    "types-PyYAML",
    "types-python-dateutil",
    # explorer browser tests drive Debian's chromium (`make chromium`), never a downloaded browser
    "playwright==1.65.2",
    "httpx==0.28.1",
]

# `make bench` compares the read API with DuckDB's Iceberg extension when these are installed
# (`pip install -e '.[bench]'`); the product itself never loads an extension.
BENCH_REQUIRES = [
    "duckdb-extension-iceberg==1.5.5",
    "duckdb-extension-avro==1.5.5",
]

setup(
    name="schemahub",
    version="0.1.0",
    description="Complete, deduplicated crypto trade history in an Apache Iceberg lakehouse",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["schemahub_lib", "schemahub_lib.*"]),
    package_data={
        "schemahub_lib": ["py.typed"],
        "schemahub_lib.explore": ["static/*.html", "static/*.js", "static/*.css", "static/vendor/*/*"],
    },
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": TEST_REQUIRES, "bench": BENCH_REQUIRES},
    entry_points={"console_scripts": ["schemahub=schemahub_lib.cli:entry"]},
)
