"""The script AWS Glue runs for a backtest (job type `glueetl`; `fraudit deploy upload` puts
this file on S3). The job itself is fraudit.backtest.glue, from the wheel Glue installs."""

import sys

from fraudit.backtest.glue import main

if __name__ == "__main__":
    main(sys.argv[1:])
