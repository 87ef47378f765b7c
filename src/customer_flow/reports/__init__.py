"""Reports: metrics for a period, the daily rollup that keeps them fast, and charts."""
