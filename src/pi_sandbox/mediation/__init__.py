"""mediation layer."""
