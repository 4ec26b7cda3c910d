"""``python -m bench``: the benchmark harness (``make bench``)."""
from bench import main

raise SystemExit(main())
