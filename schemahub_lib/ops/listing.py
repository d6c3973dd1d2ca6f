"""Listing a table's files in S3 for remove_orphan_files, where Hadoop cannot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from schemahub_lib.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def object_listing_view(spark: SparkSession, settings: Settings, table: Any) -> str | None:
    """For an s3:// table, a temp view of its files listed with PyArrow; None elsewhere.

    remove_orphan_files lists a table's location through Hadoop's FileSystem, which knows
    s3:// inside Glue (EMRFS) but not in a plain Spark with S3FileIO. Its `file_list_view`
    argument takes the listing instead (columns file_path, last_modified).
    """
    location: str = table.location()
    if not location.startswith("s3://"):
        return None
    from pyarrow import fs

    endpoint = settings.s3_endpoint
    s3 = fs.S3FileSystem(
        region=settings.aws_region,
        endpoint_override=endpoint.split("://", 1)[-1] if endpoint else None,
        scheme=endpoint.split("://", 1)[0] if endpoint and "://" in endpoint else None,
    )
    infos = s3.get_file_info(fs.FileSelector(location.removeprefix("s3://"), recursive=True))
    rows = [(f"s3://{i.path}", i.mtime) for i in infos if i.type == fs.FileType.File]
    name = f"schemahub_listing_{abs(hash(location))}"
    spark.createDataFrame(rows, "file_path string, last_modified timestamp").createOrReplaceTempView(name)
    return name
