/// The API's OpenAPI 3.1 document, served at `/openapi.json`. A test checks that its paths and
/// methods are exactly the server's endpoints, and that every endpoint's scope matches.
enum OpenAPIDocument {
    static let json = #"""
{
 "openapi": "3.1.0",
 "info": {
  "title": "Tailor",
  "version": "1",
  "description": "Real-time recommendations: rankings, similar items and users, live events, the catalogue, model versions. Every endpoint but /healthz, /readyz and /openapi.json needs an API key (`tailor keys create`), sent as `Authorization: Bearer KEY`. Requests past the server's time limit (--request-timeout) are answered 503 with the problem code `timeout`."
 },
 "components": {
  "securitySchemes": {
   "apiKey": {
    "type": "http",
    "scheme": "bearer",
    "description": "A key from `tailor keys create --scopes read,write`; scopes: read, write, admin (admin may do everything)"
   }
  },
  "schemas": {
   "Problem": {
    "type": "object",
    "required": [
     "type",
     "title",
     "status",
     "detail",
     "code"
    ],
    "properties": {
     "type": {
      "type": "string"
     },
     "title": {
      "type": "string"
     },
     "status": {
      "type": "integer"
     },
     "detail": {
      "type": "string"
     },
     "code": {
      "type": "string"
     },
     "field": {
      "type": "string"
     }
    }
   },
   "RankedItem": {
    "type": "object",
    "required": [
     "item",
     "score",
     "source"
    ],
    "properties": {
     "item": {
      "type": "string"
     },
     "score": {
      "type": "number"
     },
     "source": {
      "type": "string",
      "description": "Where the item came from: model, profile (a cold-start model from attributes), or a fallback: trending, segment:NAME (popular among users sharing the attribute NAME), popular"
     }
    }
   },
   "Recommendations": {
    "type": "object",
    "required": [
     "model",
     "items",
     "cached"
    ],
    "properties": {
     "user": {
      "type": "string"
     },
     "model": {
      "type": "string"
     },
     "items": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/RankedItem"
      }
     },
     "cached": {
      "type": "boolean"
     },
     "ranker": {
      "type": "string",
      "description": "The ranker that re-ordered the model's items (their scores are then click probabilities); absent when none did"
     },
     "experiment": {
      "type": "string",
      "description": "The running experiment the user is in (absent when none; the earliest started when they are in several, one per layer)"
     },
     "variant": {
      "type": "string",
      "description": "The user's variant in that experiment ('interleaved' in an interleaving experiment)"
     },
     "experiments": {
      "type": "object",
      "additionalProperties": {
       "type": "string"
      },
      "description": "Every experiment the user is in and their variant, when more than one"
     }
    }
   },
   "AnonymousRequest": {
    "type": "object",
    "properties": {
     "user": {
      "type": "string"
     },
     "items": {
      "type": "array",
      "items": {
       "type": "string"
      },
      "description": "Items of this session"
     },
     "attributes": {
      "type": "object",
      "additionalProperties": {
       "type": "string"
      }
     },
     "context": {
      "type": "object",
      "additionalProperties": {
       "type": "string"
      }
     },
     "k": {
      "type": "integer"
     },
     "offset": {
      "type": "integer"
     },
     "exclude_seen": {
      "type": "boolean"
     },
     "category": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "candidates": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "exclude": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "diversity": {
      "type": "number"
     },
     "rerank": {
      "type": "boolean",
      "description": "Let the server's ranker (--ranker) re-order the model's shortlist (default true)"
     }
    }
   },
   "Similar": {
    "type": "object",
    "required": [
     "model",
     "items"
    ],
    "properties": {
     "model": {
      "type": "string"
     },
     "items": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/RankedItem"
      }
     }
    }
   },
   "SimilarUsers": {
    "type": "object",
    "required": [
     "model",
     "users"
    ],
    "properties": {
     "model": {
      "type": "string"
     },
     "users": {
      "type": "array",
      "items": {
       "type": "object",
       "properties": {
        "user": {
         "type": "string"
        },
        "score": {
         "type": "number"
        }
       }
      }
     }
    }
   },
   "Embedding": {
    "type": "object",
    "required": [
     "user",
     "model",
     "vector",
     "folded_in"
    ],
    "properties": {
     "user": {
      "type": "string"
     },
     "model": {
      "type": "string"
     },
     "folded_in": {
      "type": "boolean"
     },
     "vector": {
      "type": "array",
      "items": {
       "type": "number"
      }
     },
     "updated": {
      "type": "string",
      "format": "date-time",
      "description": "When the vector last changed: the user's latest event folded in, else the model's training"
     },
     "stale_seconds": {
      "type": "number",
      "description": "Seconds since then: the vector's staleness"
     }
    }
   },
   "Event": {
    "type": "object",
    "required": [
     "user",
     "item"
    ],
    "properties": {
     "id": {
      "type": "string",
      "description": "Idempotency: an event id is stored once however often it is sent"
     },
     "user": {
      "type": "string"
     },
     "item": {
      "type": "string"
     },
     "type": {
      "type": "string",
      "description": "click (default), view, dwell, like, favorite, share, add_to_cart, purchase, rating, review, skip, dislike, exposure"
     },
     "value": {
      "type": "number"
     },
     "timestamp": {
      "oneOf": [
       {
        "type": "number",
        "description": "Unix seconds"
       },
       {
        "type": "string",
        "format": "date-time"
       }
      ]
     },
     "context": {
      "type": "object",
      "properties": {
       "device": {
        "type": "string"
       },
       "platform": {
        "type": "string"
       },
       "country": {
        "type": "string"
       },
       "session": {
        "type": "string"
       },
       "referrer": {
        "type": "string"
       }
      }
     }
    }
   },
   "EventBatch": {
    "type": "object",
    "required": [
     "events"
    ],
    "properties": {
     "events": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/Event"
      }
     }
    }
   },
   "Recorded": {
    "type": "object",
    "required": [
     "inserted",
     "alreadyPresent",
     "duplicates"
    ],
    "properties": {
     "inserted": {
      "type": "integer"
     },
     "alreadyPresent": {
      "type": "integer"
     },
     "duplicates": {
      "type": "integer"
     }
    }
   },
   "Item": {
    "type": "object",
    "properties": {
     "id": {
      "type": "string"
     },
     "title": {
      "type": "string"
     },
     "text": {
      "type": "string"
     },
     "categories": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "tags": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "published": {
      "type": "number"
     },
     "numeric": {
      "type": "object",
      "additionalProperties": {
       "type": "number"
      }
     },
     "features": {
      "type": "array",
      "items": {
       "type": "number"
      }
     },
     "available": {
      "type": "boolean"
     }
    }
   },
   "User": {
    "type": "object",
    "properties": {
     "id": {
      "type": "string"
     },
     "attributes": {
      "type": "object",
      "additionalProperties": {
       "type": "string"
      }
     },
     "signup": {
      "type": "number"
     }
    }
   },
   "Status": {
    "type": "object",
    "additionalProperties": {
     "type": "string"
    }
   },
   "Models": {
    "type": "object",
    "required": [
     "versions"
    ],
    "properties": {
     "active": {
      "type": "string"
     },
     "versions": {
      "type": "array",
      "items": {
       "type": "object",
       "properties": {
        "name": {
         "type": "string"
        },
        "kind": {
         "type": "string"
        },
        "created": {
         "type": "string"
        },
        "users": {
         "type": "integer"
        },
        "items": {
         "type": "integer"
        },
        "active": {
         "type": "boolean"
        }
       }
      }
     }
    }
   },
   "Retrain": {
    "type": "object",
    "required": [
     "state"
    ],
    "properties": {
     "state": {
      "type": "string",
      "enum": [
       "idle",
       "running",
       "activated",
       "rejected",
       "skipped",
       "failed"
      ]
     },
     "trigger": {
      "type": "string"
     },
     "started": {
      "type": "string"
     },
     "finished": {
      "type": "string"
     },
     "message": {
      "type": "string"
     },
     "version": {
      "type": "string"
     },
     "candidateNDCG": {
      "type": "number"
     },
     "activeNDCG": {
      "type": "number"
     }
    }
   }
  },
  "parameters": {
   "idPath": {
    "name": "id",
    "in": "path",
    "required": true,
    "description": "User or item id, as in the events",
    "schema": {
     "type": "string"
    }
   },
   "k": {
    "name": "k",
    "in": "query",
    "required": false,
    "description": "Items to return (1\u20131000, default 10)",
    "schema": {
     "type": "integer"
    }
   },
   "category": {
    "name": "category",
    "in": "query",
    "required": false,
    "description": "Only items in this category (repeatable)",
    "schema": {
     "type": "string"
    }
   },
   "candidates": {
    "name": "candidates",
    "in": "query",
    "required": false,
    "description": "Only these items (comma-separated ids)",
    "schema": {
     "type": "string"
    }
   },
   "exclude": {
    "name": "exclude",
    "in": "query",
    "required": false,
    "description": "Never these items (comma-separated ids)",
    "schema": {
     "type": "string"
    }
   }
  },
  "responses": {
   "Problem": {
    "description": "A problem (RFC 9457)",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   }
  }
 },
 "paths": {
  "/healthz": {
   "get": {
    "summary": "The process is up",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Status"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/readyz": {
   "get": {
    "summary": "A model is loaded and serving",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Status"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/openapi.json": {
   "get": {
    "summary": "This document",
    "responses": {
     "200": {
      "description": "OpenAPI 3.1"
     }
    }
   }
  },
  "/dashboard": {
   "get": {
    "summary": "The dashboard for people: data, models (quality by version, training curves), segments, drift, experiments, latencies (HTML with SVG plots). A page rendered in the last --dashboard-max-age seconds is served again. A browser may send the key as the password of HTTP Basic authentication.",
    "security": [
     {
      "apiKey": [
       "admin"
      ]
     }
    ],
    "parameters": [
     {
      "name": "refresh",
      "in": "query",
      "required": false,
      "description": "Render the page anew instead of serving the one rendered recently",
      "schema": {
       "type": "boolean"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "text/html": {
        "schema": {
         "type": "string"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/metrics": {
   "get": {
    "summary": "Prometheus metrics",
    "security": [
     {
      "apiKey": [
       "admin"
      ]
     }
    ],
    "responses": {
     "200": {
      "description": "Prometheus text format",
      "content": {
       "text/plain": {}
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/v1/users/{id}/recommendations": {
   "get": {
    "summary": "A user's top k, with the user's events since training folded in",
    "security": [
     {
      "apiKey": [
       "read"
      ]
     }
    ],
    "parameters": [
     {
      "$ref": "#/components/parameters/idPath"
     },
     {
      "$ref": "#/components/parameters/k"
     },
     {
      "$ref": "#/components/parameters/category"
     },
     {
      "$ref": "#/components/parameters/candidates"
     },
     {
      "$ref": "#/components/parameters/exclude"
     },
     {
      "name": "offset",
      "in": "query",
      "required": false,
      "description": "Skip this many of the same ranking (paging)",
      "schema": {
       "type": "integer"
      }
     },
     {
      "name": "exclude_seen",
      "in": "query",
      "required": false,
      "description": "Leave out items the user had or was shown (default true)",
      "schema": {
       "type": "boolean"
      }
     },
     {
      "name": "diversity",
      "in": "query",
      "required": false,
      "description": "0\u20131: trade relevance for variety (MMR)",
      "schema": {
       "type": "number"
      }
     },
     {
      "name": "context",
      "in": "query",
      "required": false,
      "description": "KEY=VALUE,\u2026 for a context-aware two-tower model (device, platform, country, hour, weekday, time)",
      "schema": {
       "type": "string"
      }
     },
     {
      "name": "write_exposures",
      "in": "query",
      "required": false,
      "description": "Store the returned items as exposure events, so they are not shown again",
      "schema": {
       "type": "boolean"
      }
     },
     {
      "name": "rerank",
      "in": "query",
      "required": false,
      "description": "Let the server's ranker (--ranker) re-order the model's shortlist (default true; false serves the model's order)",
      "schema": {
       "type": "boolean"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Recommendations"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/v1/recommendations": {
   "post": {
    "summary": "Recommendations for an anonymous or new visitor from session items, attributes and context",
    "security": [
     {
      "apiKey": [
       "read"
      ]
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/AnonymousRequest"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Recommendations"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/v1/items/{id}/similar": {
   "get": {
    "summary": "Items most similar to an item (cosine of item vectors), exactly k when k pass the filters",
    "security": [
     {
      "apiKey": [
       "read"
      ]
     }
    ],
    "parameters": [
     {
      "$ref": "#/components/parameters/idPath"
     },
     {
      "$ref": "#/components/parameters/k"
     },
     {
      "$ref": "#/components/parameters/category"
     },
     {
      "$ref": "#/components/parameters/candidates"
     },
     {
      "$ref": "#/components/parameters/exclude"
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Similar"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/v1/users/{id}/similar": {
   "get": {
    "summary": "Users most similar to a user",
    "security": [
     {
      "apiKey": [
       "read"
      ]
     }
    ],
    "parameters": [
     {
      "$ref": "#/components/parameters/idPath"
     },
     {
      "$ref": "#/components/parameters/k"
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/SimilarUsers"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/v1/users/{id}/embedding": {
   "get": {
    "summary": "A user's vector now (folded in from events since training)",
    "security": [
     {
      "apiKey": [
       "read"
      ]
     }
    ],
    "parameters": [
     {
      "$ref": "#/components/parameters/idPath"
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Embedding"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/v1/events": {
   "post": {
    "summary": "Store events (durable before the reply; idempotent by event id) and update those users' recommendations",
    "security": [
     {
      "apiKey": [
       "write"
      ]
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/EventBatch"
       }
      }
     }
    },
    "responses": {
     "202": {
      "description": "Stored",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Recorded"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/v1/items/{id}": {
   "put": {
    "summary": "Insert or replace a catalogue item (available again)",
    "security": [
     {
      "apiKey": [
       "write"
      ]
     }
    ],
    "parameters": [
     {
      "$ref": "#/components/parameters/idPath"
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/Item"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Item"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "get": {
    "summary": "A catalogue item",
    "security": [
     {
      "apiKey": [
       "read"
      ]
     }
    ],
    "parameters": [
     {
      "$ref": "#/components/parameters/idPath"
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Item"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "delete": {
    "summary": "Mark an item unavailable: never recommended again until put back",
    "security": [
     {
      "apiKey": [
       "write"
      ]
     }
    ],
    "parameters": [
     {
      "$ref": "#/components/parameters/idPath"
     }
    ],
    "responses": {
     "204": {
      "description": "Done"
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/v1/users/{id}": {
   "put": {
    "summary": "Insert or replace a user profile",
    "security": [
     {
      "apiKey": [
       "write"
      ]
     }
    ],
    "parameters": [
     {
      "$ref": "#/components/parameters/idPath"
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/User"
       }
      }
     }
    },
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/User"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "get": {
    "summary": "A user profile",
    "security": [
     {
      "apiKey": [
       "read"
      ]
     }
    ],
    "parameters": [
     {
      "$ref": "#/components/parameters/idPath"
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/User"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "delete": {
    "summary": "Erase a user: profile and events",
    "security": [
     {
      "apiKey": [
       "write"
      ]
     }
    ],
    "parameters": [
     {
      "$ref": "#/components/parameters/idPath"
     }
    ],
    "responses": {
     "204": {
      "description": "Done"
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/v1/admin/models": {
   "get": {
    "summary": "Model versions",
    "security": [
     {
      "apiKey": [
       "admin"
      ]
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Models"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/v1/admin/models/{version}/activate": {
   "post": {
    "summary": "Serve a version (atomic; a version that fails to load is refused and the current one keeps serving; on a shared store, refused with 409 replicas-lack-version unless every live server holds it, then reaching all of them)",
    "security": [
     {
      "apiKey": [
       "admin"
      ]
     }
    ],
    "parameters": [
     {
      "name": "version",
      "in": "path",
      "required": true,
      "description": "Version name",
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Status"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/v1/admin/models/rollback": {
   "post": {
    "summary": "Serve the previously active version",
    "security": [
     {
      "apiKey": [
       "admin"
      ]
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Status"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/v1/admin/retrain": {
   "post": {
    "summary": "Retrain in the background: the active model's recipe on the store's events now, activated only if NDCG@10 on a held-out split does not regress",
    "security": [
     {
      "apiKey": [
       "admin"
      ]
     }
    ],
    "responses": {
     "202": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Retrain"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   },
   "get": {
    "summary": "The current or last retraining run",
    "security": [
     {
      "apiKey": [
       "admin"
      ]
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Retrain"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/v1/admin/drift": {
   "get": {
    "summary": "The latest drift check: the event-type mix of the latest window against the one before (PSI), new users and items, the active model's rolling NDCG@10 and its baseline, the thresholds, whether any was crossed and which (reasons)",
    "security": [
     {
      "apiKey": [
       "admin"
      ]
     }
    ],
    "parameters": [
     {
      "name": "measure",
      "in": "query",
      "required": false,
      "description": "Measure now instead of reporting the last check",
      "schema": {
       "type": "boolean"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/v1/admin/experiments": {
   "get": {
    "summary": "Every experiment (A/B test or interleaving) in the store, with its variants, shares, layer, traffic slice and status",
    "security": [
     {
      "apiKey": [
       "admin"
      ]
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "array",
         "items": {
          "type": "object"
         }
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  },
  "/v1/admin/experiments/{name}/report": {
   "get": {
    "summary": "An experiment's report: per variant users, CTR and conversion with intervals, the comparison with the control, the sample-ratio check and the always-valid sequential p-value; for an interleaving experiment, the wins of each variant with the sign test and an always-valid p-value. Exposures the server has queued are written first",
    "security": [
     {
      "apiKey": [
       "admin"
      ]
     }
    ],
    "parameters": [
     {
      "name": "name",
      "in": "path",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      }
     },
     "default": {
      "$ref": "#/components/responses/Problem"
     }
    }
   }
  }
 }
}
"""#
}
