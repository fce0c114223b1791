"""The free-text details a session may carry (electrode site, muscle, clinician, notes...).

A module of its own with no imports, so that the store (which validates and keeps them) and
``biofeedback record --help`` (which offers one option each) share one list without the help
importing the store.
"""

#: Free-text session details a caller may pass to ``Database.create_session`` and
#: ``Database.update_session`` (what the clinician report shows: docs/clinical-background.md).
TEXT_FIELDS = (
    "electrode_site",
    "muscle",
    "side",
    "electrode_type",
    "skin_prep",
    "isolation_mode",
    "clinician",
    "notes",
)
