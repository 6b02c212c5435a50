-- sigil: the key set of the database store, which needs PostgreSQL
-- (SIGIL_KEY_STORE=database); with SQLite the keys stay in the keys folder.
-- This version exists so that both backends carry the same list of
-- versions; it changes nothing.

