"""The NYC taxi lab: flink-training's data types, generators and exercises, on riverlog."""
