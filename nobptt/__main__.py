from nobptt.cli import main

raise SystemExit(main())
