"""The classroom: teacher controls of the simulator, the camera wall, replay and the debrief."""
