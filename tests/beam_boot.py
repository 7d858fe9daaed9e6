"""What Beam's SDK container ``boot`` does before it starts a Python worker, for the external worker pool of
tests/pipelines/test_scale.py (``worker_pool_main --container_executable``): ask the runner's provision
service for the pipeline options, hand them over in the environment, run ``sdk_worker_main``. A bare pool
starts workers without the pipeline options, so their FileSystems could not reach s3://; Flink, Spark and
Beam's container images start workers this way.

    python beam_boot.py --id=ID --provision_endpoint=HOST:PORT --control_endpoint=HOST:PORT ...
"""
from __future__ import annotations

import argparse
import os
import sys

# Run as a script, Python puts tests/ first on the path, where tests/transforms/ (the tests of transforms/)
# would shadow the project's packages in the worker: the project's root goes there instead.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
from apache_beam.portability.api import beam_provision_api_pb2, beam_provision_api_pb2_grpc  # noqa: E402
from apache_beam.runners.worker import sdk_worker_main  # noqa: E402
from google.protobuf import json_format  # noqa: E402


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    for name in ("id", "logging_endpoint", "artifact_endpoint", "provision_endpoint", "control_endpoint"):
        p.add_argument(f"--{name}", default="")
    args = p.parse_args(argv)
    with grpc.insecure_channel(args.provision_endpoint) as channel:
        stub = beam_provision_api_pb2_grpc.ProvisionServiceStub(channel)
        request = beam_provision_api_pb2.GetProvisionInfoRequest()
        info = stub.GetProvisionInfo(request, metadata=[("worker_id", args.id)]).info
    os.environ["PIPELINE_OPTIONS"] = json_format.MessageToJson(info.pipeline_options)
    os.environ["WORKER_ID"] = args.id
    os.environ["CONTROL_API_SERVICE_DESCRIPTOR"] = f'url: "{args.control_endpoint}"'
    if args.logging_endpoint:
        os.environ["LOGGING_API_SERVICE_DESCRIPTOR"] = f'url: "{args.logging_endpoint}"'
    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main(sys.argv[1:])
