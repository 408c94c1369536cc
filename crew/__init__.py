"""The assistant: intent routing, the SupportFlow, specialist agents, tools and model backends."""
