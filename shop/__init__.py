"""The store's system of record: customers, orders, products, payments and every state change."""
