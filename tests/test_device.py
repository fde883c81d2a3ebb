"""The device report that every chapter prints."""

from __future__ import annotations

from amos_tutorial.utils.device import best_device, device_report


def test_device_report():
    report = device_report()
    assert report.device == best_device()
    text = str(report)
    for key in ("python", "torch", "monai", "device", "cpu_count"):
        assert key in text
    assert report.as_dict()["torch threads"].isdigit()
