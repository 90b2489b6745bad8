"""Tests of the disaster-recovery faults and runbook actions (harness.faults.dr)."""
