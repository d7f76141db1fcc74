from matinv_bench.cli import main

raise SystemExit(main())
