import sys

from amos_tutorial.cli import main

sys.exit(main())
