"""The engine every method runs on: the plan, the session, the targets, the objective, the
optimiser, the losses and the device."""
