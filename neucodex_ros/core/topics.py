"""Default topic names shared by the nodes, the commands and the bags they write."""

#: Where metavision_driver and libcaer_driver publish EventPackets (node `event_camera`,
#: topic `~/events`); `convert` writes bags on it and the event edge listens on it.
EVENTS = '/event_camera/events'
#: SampleLabels of a converted dataset, beside the events.
LABELS = '/event_camera/labels'
