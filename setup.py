"""inpaint-pairs: object-removal training pairs (PIPE / BrushData recipes) on Apache Beam.

Also the file Beam ships to remote workers: ``--setup_file ./setup.py``.
Exact versions checked together live in constraints.txt (``pip install -c constraints.txt -e .[all]``).
"""
from setuptools import find_packages, setup

CORE = [
    "apache-beam>=2.77,<3",
    "numpy>=2.0,<2.5",
    "pyarrow>=15,<26",
    "opencv-python-headless>=4.8",
    "pillow>=10",
    "pycocotools>=2.0.7",
    "webdataset>=0.2.90",           # reading shards back (outputs, loader); builds write tars without it
    "braceexpand>=0.1.7",           # shard specs {00000..00099} (transforms/core/tarfiles.py)
    "pyyaml>=6",
    "urllib3>=2.0",                 # the bounded HTTP client of the load stage (transforms/core/fetch.py)
    "boto3>=1.28,<2",               # s3:// through Beam's FileSystems (what apache-beam[aws] adds); the loader
    "tqdm>=4.66",                   # the live progress bar of local builds (pipelines/progress.py)
    "msgspec>=0.18",                # planning: COCO json read with segmentations kept as text; plan files
]
MODELS = [
    "torch>=2.1",
    "torchvision>=0.16",
    "transformers>=5",
    "diffusers>=0.30",
    "accelerate>=1.0",
    "huggingface-hub>=0.20",
    "safetensors>=0.4",
    "segment-anything>=1.0",
]
TEST = ["pytest>=8", "datasets>=3", "scikit-image>=0.24",
        "moto[server]>=5",              # the local S3-compatible server of the object-storage tests
        "markdown-it-py>=3"]            # renders the card in the injection test

setup(
    name="inpaint-pairs",
    version="0.1.0",
    description="Apache Beam pipeline that turns image collections into object add/remove training pairs",
    python_requires=">=3.10",
    packages=find_packages(include=["pipelines", "pipelines.*", "transforms", "transforms.*", "model_wrappers",
                                    "model_wrappers.*", "configs", "configs.*"]),
    package_data={"configs": ["*.yaml", "vocab/*.txt"]},
    install_requires=CORE,
    extras_require={"models": MODELS, "test": TEST, "all": MODELS + TEST},
    entry_points={"console_scripts": ["inpaint-pairs=pipelines.cli:entry"]},
)
