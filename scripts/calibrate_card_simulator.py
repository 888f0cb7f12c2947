"""Rewrite src/fraudit/data/sparkov_calibration.json from the committed Sparkov sample
(the earlier half by unix_time). tests/unit/test_card_simulation.py fails when the file and
the sample disagree."""

from pathlib import Path

from fraudit.data.sparkov_profile import CALIBRATION_FILE, calibration_json, calibration_of_sample

REPOSITORY = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    out = REPOSITORY / "src" / "fraudit" / "data" / CALIBRATION_FILE
    out.write_text(calibration_json(calibration_of_sample(REPOSITORY)), encoding="utf-8")
    print(f"wrote {out}")
