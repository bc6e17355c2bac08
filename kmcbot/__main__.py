from kmcbot.cli import main

raise SystemExit(main())
