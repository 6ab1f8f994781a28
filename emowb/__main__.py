import sys

from emowb.cli import main

sys.exit(main())
