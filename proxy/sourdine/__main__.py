from sourdine.cli import main

raise SystemExit(main())
