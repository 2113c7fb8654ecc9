import sys

from satseg.cli import main

sys.exit(main())
