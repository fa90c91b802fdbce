"""`python -m blsp_kd.cli ...` (what torchrun and accelerate launch start): the `blsp-kd` command."""

import sys

from blsp_kd.cli import main

sys.exit(main())
