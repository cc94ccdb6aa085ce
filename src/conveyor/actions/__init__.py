"""Built-in actions: ``uses:`` steps that Conveyor implements natively."""
