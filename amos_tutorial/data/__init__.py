"""The AMOS data layer: release layout reader, synthetic mini-AMOS, download, validation.

Introduced in chapters *Getting the data* and *Exploring the data*.
"""
