"""neucodex_ros: split spiking neural network inference for robots (NeuCODEX) on ROS 2."""
