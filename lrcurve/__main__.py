from lrcurve.cli import main

main()
