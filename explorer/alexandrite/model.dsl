/*
 * Alexandrite: the Jewellery Store System as its architects drew it (C4 containers).
 * Written from the project's domain description. The identifiers are the element ids the
 * explorer's mapping, state graph and SLA refer to: keep them when editing.
 */
workspace "Alexandrite" "Jewellery made to order: the systems an order passes through." {

    !identifiers flat

    model {
        customer = person "Customer" "Designs a piece or uploads a 3D model and orders it in the Internet Shop."
        api_user = person "API user" "A B2B partner whose systems submit orders through the partner API."
        seller = person "Seller" "Confirms orders for manufacturing in the CRM."
        operator = person "Operator" "Takes orders into work in the MES, makes, packs and ships them."

        jewellery_store = softwareSystem "Jewellery Store System" "Takes jewellery orders and makes them." {
            internet_shop = container "Internet Shop" "The customer makes an order, uploads or edits a 3D model." "Vue, TypeScript, Three.js"
            shop_api = container "Shop API" "Shop items; receives 3D files; stores the order from the customer's view." "Spring Boot"
            shop_db = container "Shop DB" "Customers and their orders." "PostgreSQL" {
                tags "Database"
            }
            crm = container "CRM" "The seller's interface." "Vue, TypeScript"
            crm_api = container "CRM API" "CRM logic; reads and writes Shop DB." "Spring Boot"
            queue = container "Messages Queue" "Messages about new orders and status changes between containers; several topics." "RabbitMQ" {
                tags "Queue"
            }
            mes_api = container "MES API" "Assigns orders to operators, lists orders, calculates the price; partner API users call it." "C#"
            mes = container "MES" "The operator's interface." "React, TypeScript"
            mes_db = container "MES DB" "Orders, assignments to operators, statuses from MES's view." "PostgreSQL" {
                tags "Database"
            }
            files_storage = container "3D files storage" "3D files, so the price can be calculated." "S3-compatible object storage" {
                tags "Database"
            }
        }

        customer -> internet_shop "Makes an order, uploads or edits a 3D model" "HTTPS"
        internet_shop -> shop_api "Reads shop items, creates and submits orders, uploads 3D files" "HTTPS/JSON"
        shop_api -> shop_db "Reads and writes customers and orders" "SQL"
        shop_api -> files_storage "Stores uploaded 3D files" "S3 API over HTTPS"

        seller -> crm "Reviews orders and confirms manufacturing" "HTTPS"
        crm -> crm_api "Reads orders, approves and closes them" "HTTPS/JSON"
        crm_api -> shop_db "Reads and writes orders" "SQL"
        crm_api -> queue "Publishes new orders, approvals and closures" "AMQP"
        queue -> crm_api "Delivers prices and manufacturing status changes" "AMQP"

        mes_api -> queue "Publishes prices and manufacturing status changes" "AMQP"
        queue -> mes_api "Delivers new orders, approvals and closures" "AMQP"
        api_user -> mes_api "Submits orders and uploads 3D files through the partner API" "HTTPS/JSON"

        operator -> mes "Takes orders into work, makes, packs and ships them" "HTTPS"
        mes -> mes_api "Lists orders and records manufacturing steps" "HTTPS/JSON"
        mes_api -> mes_db "Reads and writes orders, assignments and statuses" "SQL"
        mes_api -> files_storage "Reads 3D files to calculate the price; stores partners' files" "S3 API over HTTPS"
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
