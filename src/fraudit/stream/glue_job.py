"""The script AWS Glue runs (job type `gluestreaming`; `fraudit deploy upload` puts this
file on S3). The job itself is fraudit.stream.glue, from the wheel Glue installs."""

import sys

from fraudit.stream.glue import main

if __name__ == "__main__":
    main(sys.argv[1:])
