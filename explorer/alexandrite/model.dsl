/*
 * Alexandrite: the Jewellery Store System as its architects drew it (C4 containers).
 * Written from the project's domain description. The identifiers are the element ids the
 * explorer's mapping, state graph and SLA refer to: keep them when editing.
 */
workspace "Alexandrite" "Jewellery made to order: the systems an order passes through." {

    !identifiers flat

    model {
        customer = person "Customer" "Designs a piece or uploads a 3D model and orders it in the Internet Shop." {
            properties {
                "name:ru" "Покупатель"
                "description:ru" "Придумывает изделие или загружает 3D-модель и заказывает его в интернет-магазине."
            }
        }
        api_user = person "API user" "A B2B partner whose systems submit orders through the partner API." {
            properties {
                "name:ru" "Партнёр (API)"
                "description:ru" "B2B-партнёр: его системы передают заказы через партнёрский API."
            }
        }
        seller = person "Seller" "Confirms orders for manufacturing in the CRM." {
            properties {
                "name:ru" "Продавец"
                "description:ru" "Подтверждает заказы в CRM, чтобы их передали в производство."
            }
        }
        operator = person "Operator" "Takes orders into work in the MES, makes, packs and ships them." {
            properties {
                "name:ru" "Оператор"
                "description:ru" "Берёт заказы в работу в MES, изготавливает, упаковывает и отправляет их."
            }
        }

        jewellery_store = softwareSystem "Jewellery Store System" "Takes jewellery orders and makes them." {
            properties {
                "name:ru" "Система ювелирного магазина"
                "description:ru" "Принимает заказы на ювелирные изделия и изготавливает их."
            }
            internet_shop = container "Internet Shop" "The customer makes an order, uploads or edits a 3D model." "Vue, TypeScript, Three.js" {
                properties {
                    "name:ru" "Интернет-магазин"
                    "description:ru" "Покупатель оформляет заказ, загружает или редактирует 3D-модель."
                }
            }
            shop_api = container "Shop API" "Shop items; receives 3D files; stores the order from the customer's view." "Spring Boot" {
                properties {
                    "description:ru" "Товары магазина; принимает 3D-файлы; хранит заказ так, как его видит покупатель."
                }
            }
            shop_db = container "Shop DB" "Customers and their orders." "PostgreSQL" {
                properties {
                    "description:ru" "Покупатели и их заказы."
                }
                tags "Database"
            }
            crm = container "CRM" "The seller's interface." "Vue, TypeScript" {
                properties {
                    "description:ru" "Рабочее место продавца."
                }
            }
            crm_api = container "CRM API" "CRM logic; reads and writes Shop DB." "Spring Boot" {
                properties {
                    "description:ru" "Логика CRM; читает и пишет Shop DB."
                }
            }
            queue = container "Messages Queue" "Messages about new orders and status changes between containers; several topics." "RabbitMQ" {
                properties {
                    "name:ru" "Очередь сообщений"
                    "description:ru" "Сообщения о новых заказах и сменах статуса между контейнерами; несколько топиков."
                }
                tags "Queue"
            }
            mes_api = container "MES API" "Assigns orders to operators, lists orders, calculates the price; partner API users call it." "C#" {
                properties {
                    "description:ru" "Назначает заказы операторам, выдаёт списки заказов, рассчитывает цену; его вызывают партнёры через API."
                }
            }
            mes = container "MES" "The operator's interface." "React, TypeScript" {
                properties {
                    "description:ru" "Рабочее место оператора."
                }
            }
            mes_db = container "MES DB" "Orders, assignments to operators, statuses from MES's view." "PostgreSQL" {
                properties {
                    "description:ru" "Заказы, назначения операторам и статусы с точки зрения MES."
                }
                tags "Database"
            }
            files_storage = container "3D files storage" "3D files, so the price can be calculated." "S3-compatible object storage" {
                properties {
                    "name:ru" "Хранилище 3D-файлов"
                    "description:ru" "3D-файлы, по которым рассчитывается цена."
                }
                tags "Database"
            }
        }

        customer -> internet_shop "Makes an order, uploads or edits a 3D model" "HTTPS" {
            properties {
                "description:ru" "Оформляет заказ, загружает или редактирует 3D-модель"
            }
        }
        internet_shop -> shop_api "Reads shop items, creates and submits orders, uploads 3D files" "HTTPS/JSON" {
            properties {
                "description:ru" "Читает товары, создаёт и оформляет заказы, загружает 3D-файлы"
            }
        }
        shop_api -> shop_db "Reads and writes customers and orders" "SQL" {
            properties {
                "description:ru" "Читает и пишет покупателей и заказы"
            }
        }
        shop_api -> files_storage "Stores uploaded 3D files" "S3 API over HTTPS" {
            properties {
                "description:ru" "Сохраняет загруженные 3D-файлы"
            }
        }

        seller -> crm "Reviews orders and confirms manufacturing" "HTTPS" {
            properties {
                "description:ru" "Просматривает заказы и подтверждает производство"
            }
        }
        crm -> crm_api "Reads orders, approves and closes them" "HTTPS/JSON" {
            properties {
                "description:ru" "Читает заказы, подтверждает и закрывает их"
            }
        }
        crm_api -> shop_db "Reads and writes orders" "SQL" {
            properties {
                "description:ru" "Читает и пишет заказы"
            }
        }
        crm_api -> queue "Publishes new orders, approvals and closures" "AMQP" {
            properties {
                "description:ru" "Публикует новые заказы, подтверждения и закрытия"
            }
        }
        queue -> crm_api "Delivers prices and manufacturing status changes" "AMQP" {
            properties {
                "description:ru" "Доставляет цены и смены статуса производства"
            }
        }

        mes_api -> queue "Publishes prices and manufacturing status changes" "AMQP" {
            properties {
                "description:ru" "Публикует цены и смены статуса производства"
            }
        }
        queue -> mes_api "Delivers new orders, approvals and closures" "AMQP" {
            properties {
                "description:ru" "Доставляет новые заказы, подтверждения и закрытия"
            }
        }
        api_user -> mes_api "Submits orders and uploads 3D files through the partner API" "HTTPS/JSON" {
            properties {
                "description:ru" "Передаёт заказы и загружает 3D-файлы через партнёрский API"
            }
        }

        operator -> mes "Takes orders into work, makes, packs and ships them" "HTTPS" {
            properties {
                "description:ru" "Берёт заказы в работу, изготавливает, упаковывает и отправляет их"
            }
        }
        mes -> mes_api "Lists orders and records manufacturing steps" "HTTPS/JSON" {
            properties {
                "description:ru" "Выдаёт списки заказов и записывает шаги производства"
            }
        }
        mes_api -> mes_db "Reads and writes orders, assignments and statuses" "SQL" {
            properties {
                "description:ru" "Читает и пишет заказы, назначения и статусы"
            }
        }
        mes_api -> files_storage "Reads 3D files to calculate the price; stores partners' files" "S3 API over HTTPS" {
            properties {
                "description:ru" "Читает 3D-файлы для расчёта цены; сохраняет файлы партнёров"
            }
        }
    }

    views {
        systemContext jewellery_store "SystemContext" {
            include *
            autolayout lr
        }
        container jewellery_store "Containers" {
            include *
            autolayout lr
        }
        styles {
            element "Person" {
                shape Person
            }
            element "Database" {
                shape Cylinder
            }
            element "Queue" {
                shape Pipe
            }
        }
    }
}
