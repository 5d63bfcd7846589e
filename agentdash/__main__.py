"""`python -m agentdash`: the same as the `agentdash` command."""

import sys

from agentdash.entry import main

sys.exit(main())
