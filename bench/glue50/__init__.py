"""`python -m bench.glue50` (`make bench-compare`): unify throughput, Glue 5.0 baseline vs this
tree, measured in one run with interleaved batches. Kept out of `make bench` and `make test`."""
