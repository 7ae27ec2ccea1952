"""Roster: users and client accounts for client portals."""
