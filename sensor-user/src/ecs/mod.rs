//! ECS documents: the alert, and events in the Elastic Defend shape.
