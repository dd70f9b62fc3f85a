"""World geometry: grids, affines, RAS/LPS, conforming one grid to another."""
