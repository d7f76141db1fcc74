"""Reporting: tidy result files (:mod:`.results`), slope fits (:mod:`.fits`), figures
(:mod:`.plots`) and the report built from result files alone (:mod:`.report`)."""
