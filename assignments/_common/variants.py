# Personalised parameters of a problem set: the same student id always gives the same variant.
#
# This file is the single source of the variant rule. `python scripts/assignments.py build`
# copies it verbatim into every student and solution notebook (replacing the master's
# `%run ../_common/variants.py` cell, so a handed-out notebook needs no extra file) and into
# every grading bundle, where the hidden tests import it to recompute the parameters from the
# submitted STUDENT_ID (editing the notebook's copy therefore changes nothing at grading time).
#
# The rule: the SHA-256 digest of "linclip-classroom/<assignment>/<normalised id>" (the id
# with surrounding blanks removed and lower-cased) is read byte by byte; byte k picks one
# entry of the k-th list below (byte value modulo the list length) and bytes 8-11 give the
# seed. The assignment name is part of the key, so one student gets unrelated parameters in
# different problem sets. All choices keep r < d~ <= d and the book's sample-size condition
# comfortably satisfied at the problem sets' n.
import hashlib

VARIANT_CHOICES = {
    "r": (2, 3, 4),
    "extra_d_t": (3, 4, 5, 6),  # d~ = r + extra_d_t
    "extra_d": (0, 2, 4),  # d = d~ + extra_d
    "eta": (0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6),
    "gamma": (1.0, 2.0, 4.0, 8.0),
    "gamma_t": (1.0, 2.0, 4.0, 8.0),
}


def variant(student_id, assignment):
    """Parameters (d, d_t, r, eta, gamma, gamma_t, seed) of one student's problem set."""
    sid = str(student_id).strip().lower()
    if not sid:
        raise ValueError("STUDENT_ID is empty: put your student id between the quotes")
    key = f"linclip-classroom/{assignment}/{sid}".encode()
    digest = hashlib.sha256(key).digest()
    picks = {
        name: options[digest[k] % len(options)]
        for k, (name, options) in enumerate(VARIANT_CHOICES.items())
    }
    r = picks["r"]
    d_t = r + picks["extra_d_t"]
    return {
        "d": d_t + picks["extra_d"],
        "d_t": d_t,
        "r": r,
        "eta": picks["eta"],
        "gamma": picks["gamma"],
        "gamma_t": picks["gamma_t"],
        "seed": int.from_bytes(digest[8:12], "big"),
    }
