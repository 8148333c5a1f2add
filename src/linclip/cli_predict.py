"""``python -m linclip predict``: the book's first-order error predictions (to be written)."""
