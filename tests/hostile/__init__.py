"""Hostile conditions: crashes, full disks, slow and abusive clients, load, bad input."""
