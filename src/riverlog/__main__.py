from riverlog.cli.main import main

main()
