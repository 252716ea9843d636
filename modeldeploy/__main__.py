from modeldeploy.cli.main import main

raise SystemExit(main())
