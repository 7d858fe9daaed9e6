"""Object-store settings for the commands that only read or write storage (report, preview, export, check).

They take Beam's own flags, as ``build`` does: S3 (``--s3_endpoint_url``, ``--s3_access_key_id``,
``--s3_secret_access_key``, ``--s3_session_token``, ``--s3_region_name``, ``--s3_verify``,
``--s3_disable_ssl``, ...), GCS (``--project``, ``--impersonate_service_account``, ...), Azure and HDFS;
credentials not given as flags come from the standard environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ``GOOGLE_APPLICATION_CREDENTIALS``). The
options are handed to this process's Beam FileSystems, which is how every s3:// and gs:// read reaches its
store; ``build`` hands the same to its workers through the pipeline options.
"""
from __future__ import annotations

from configs.schema import ConfigError

FLAG_HINT = "--s3_endpoint_url, --s3_access_key_id, --s3_secret_access_key, --s3_region_name, --project"


def storage_options(args: list[str], command: str):
    """Beam ``PipelineOptions`` from the storage flags in ``args``, handed to FileSystems; any other flag
    is a user error naming it. Returns the options."""
    # Beam is imported here, not at the top: the CLI answers --help (and sets up logging) before Beam loads
    from apache_beam.options import pipeline_options as po
    parser = po._BeamArgumentParser(add_help=False, allow_abbrev=False)
    for group in (po.S3Options, po.GoogleCloudOptions, po.AzureOptions, po.HadoopFileSystemOptions):
        group._add_argparse_args(parser)
    _, unknown = parser.parse_known_args(list(args))
    if unknown:
        raise ConfigError(f"{command}: unrecognized arguments: {' '.join(unknown)} (besides its own flags it "
                          f"takes Beam's storage flags only: {FLAG_HINT}, ...)")
    from transforms.core import fileio
    options = po.PipelineOptions(list(args))
    fileio.use_options(options)   # FileSystems, and the S3 client of fileio.create_exclusive
    return options
