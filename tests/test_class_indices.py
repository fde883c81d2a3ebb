"""The organ index table of a label map: every index points at its class, capped tables are reproducible."""

from __future__ import annotations

import torch

from amos_tutorial.transforms.class_indices import compute_class_indices


def test_class_indices_point_at_their_class():
    label = torch.zeros(1, 10, 12, 8, dtype=torch.uint8)
    label[0, 1:6, 2:9, 1:7] = 3
    label[0, 7, 7, 7] = 12
    table = compute_class_indices(label)
    assert sorted(table) == [3, 12]
    flat = label.reshape(-1)
    for organ, idx in table.items():
        assert idx.dtype == torch.int32
        assert bool((flat[idx.long()] == organ).all())
    assert table[3].numel() == 5 * 7 * 6
    assert table[12].numel() == 1
    capped = compute_class_indices(label, max_per_class=17)
    assert capped[3].numel() == 17
    assert bool((flat[capped[3].long()] == 3).all())
    assert torch.equal(capped[3], compute_class_indices(label, max_per_class=17)[3])  # reproducible
