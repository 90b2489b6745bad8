"""Tests of the reference deployment: router, toxics, regions, supervisor, standby."""
