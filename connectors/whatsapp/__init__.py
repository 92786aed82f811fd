"""WhatsApp: the discom's business number on the WhatsApp Business Cloud API.

:mod:`connectors.whatsapp.messages` holds what the channel and the chatbot
exchange: an incoming message as the webhook delivered it, and a reply the
chatbot wants sent inside the 24-hour customer-service window.
"""

SYSTEM = "whatsapp"
