"""Theory-checking studies and speed benchmarks for affinetl (run each module with ``-m``)."""
