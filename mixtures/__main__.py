import sys

from mixtures.cli import main

sys.exit(main())
